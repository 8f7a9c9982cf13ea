-- condition
(contains("CommandLine__lc", 'sqbfafga') OR contains("CommandLine__lc", 'karqbya') OR contains("CommandLine__lc", 'jaeuawa'))

-- selection selection
(contains("CommandLine__lc", 'sqbfafga') OR contains("CommandLine__lc", 'karqbya') OR contains("CommandLine__lc", 'jaeuawa'))
