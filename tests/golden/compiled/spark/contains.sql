-- condition
contains(`CommandLine__lc`, 'portproxy')

-- selection selection
contains(`CommandLine__lc`, 'portproxy')
