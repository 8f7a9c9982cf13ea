-- condition
`Description__lc` = ''

-- selection selection
`Description__lc` = ''
