-- condition
(endswith(`Image__lc`, '\\wmic.exe') AND startswith(`CommandLine__lc`, 'wmic '))

-- selection selection
(endswith(`Image__lc`, '\\wmic.exe') AND startswith(`CommandLine__lc`, 'wmic '))
