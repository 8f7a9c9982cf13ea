-- condition
contains(`CommandLine__lc`, 'd2hvyw1p')

-- selection selection
contains(`CommandLine__lc`, 'd2hvyw1p')
