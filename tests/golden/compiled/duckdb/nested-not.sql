-- condition
(ends_with("Image__lc", '\cmd.exe') AND (NOT coalesce(("User__lc" = 'root' AND (NOT coalesce("CommandLine__lc" = 'x', false))), false)))

-- selection a
ends_with("Image__lc", '\cmd.exe')

-- selection b
"User__lc" = 'root'

-- selection c
"CommandLine__lc" = 'x'
