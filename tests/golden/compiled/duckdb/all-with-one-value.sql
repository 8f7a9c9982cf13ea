-- condition
contains("CommandLine__lc", 'shadow')

-- selection selection
contains("CommandLine__lc", 'shadow')
