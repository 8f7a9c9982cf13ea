-- condition
`ParentCommandLine__lc` = 'x'

-- selection selection
`ParentCommandLine__lc` = 'x'
