-- condition
`CommandLine` RLIKE '(?i)^invoke-'

-- selection selection
`CommandLine` RLIKE '(?i)^invoke-'
