-- condition
regexp_matches("CommandLine", 'port=(80|443)\b')

-- selection selection
regexp_matches("CommandLine", 'port=(80|443)\b')
