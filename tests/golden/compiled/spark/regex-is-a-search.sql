-- condition
`CommandLine` RLIKE 'port=(80|443)\\b'

-- selection selection
`CommandLine` RLIKE 'port=(80|443)\\b'
