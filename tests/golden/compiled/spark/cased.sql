-- condition
contains(`CommandLine`, 'Invoke-')

-- selection selection
contains(`CommandLine`, 'Invoke-')
