-- condition
(endswith(`Image__lc`, '\\cmd.exe') AND (NOT coalesce((`User__lc` = 'root' AND (NOT coalesce(`CommandLine__lc` = 'x', false))), false)))

-- selection a
endswith(`Image__lc`, '\\cmd.exe')

-- selection b
`User__lc` = 'root'

-- selection c
`CommandLine__lc` = 'x'
