-- condition
`CommandLine__lc` RLIKE '(?s)^a.c$'

-- selection selection
`CommandLine__lc` RLIKE '(?s)^a.c$'
