-- condition
regexp_matches("CommandLine", '(?i)^invoke-')

-- selection selection
regexp_matches("CommandLine", '(?i)^invoke-')
