-- condition
contains("CommandLine__lc", lower('ÄRGER'))

-- selection selection
contains("CommandLine__lc", lower('ÄRGER'))
