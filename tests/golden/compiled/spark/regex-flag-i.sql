-- condition
`CommandLine` RLIKE '(?iu)^invoke-'

-- selection selection
`CommandLine` RLIKE '(?iu)^invoke-'
