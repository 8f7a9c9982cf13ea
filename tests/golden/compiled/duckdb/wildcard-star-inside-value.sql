-- condition
"CommandLine__lc" LIKE '%ntdsutil%ifm%' ESCAPE '\'

-- selection selection
"CommandLine__lc" LIKE '%ntdsutil%ifm%' ESCAPE '\'
