-- condition
`ParentImage` IS NOT NULL

-- selection selection
`ParentImage` IS NOT NULL
