-- condition
`CommandLine__lc` = 'a*b?c'

-- selection selection
`CommandLine__lc` = 'a*b?c'
