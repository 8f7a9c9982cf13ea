-- condition
contains(`CommandLine__lc`, 'it''s "quoted"')

-- selection selection
contains(`CommandLine__lc`, 'it''s "quoted"')
