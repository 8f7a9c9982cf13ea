-- condition
regexp_matches("CommandLine__lc", '(?s)^a.c$')

-- selection selection
regexp_matches("CommandLine__lc", '(?s)^a.c$')
