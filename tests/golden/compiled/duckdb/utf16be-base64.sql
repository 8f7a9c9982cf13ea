-- condition
(contains("CommandLine__lc", 'aekarqby') OR contains("CommandLine__lc", 'bjaeuaw') OR contains("CommandLine__lc", 'asqbfaf'))

-- selection selection
(contains("CommandLine__lc", 'aekarqby') OR contains("CommandLine__lc", 'bjaeuaw') OR contains("CommandLine__lc", 'asqbfaf'))
