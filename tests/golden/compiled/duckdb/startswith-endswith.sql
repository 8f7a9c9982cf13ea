-- condition
(ends_with("Image__lc", '\wmic.exe') AND starts_with("CommandLine__lc", 'wmic '))

-- selection selection
(ends_with("Image__lc", '\wmic.exe') AND starts_with("CommandLine__lc", 'wmic '))
