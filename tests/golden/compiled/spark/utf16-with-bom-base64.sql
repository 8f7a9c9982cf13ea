-- condition
(contains(`CommandLine__lc`, '//5jaeuawa') OR contains(`CommandLine__lc`, '/+sqbfafga') OR contains(`CommandLine__lc`, '//kkarqbya'))

-- selection selection
(contains(`CommandLine__lc`, '//5jaeuawa') OR contains(`CommandLine__lc`, '/+sqbfafga') OR contains(`CommandLine__lc`, '//kkarqbya'))
