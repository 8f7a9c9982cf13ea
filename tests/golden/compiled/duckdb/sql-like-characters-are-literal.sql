-- condition
contains("CommandLine__lc", '100%_done')

-- selection selection
contains("CommandLine__lc", '100%_done')
