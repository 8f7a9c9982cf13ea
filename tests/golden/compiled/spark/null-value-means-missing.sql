-- condition
(endswith(`Image__lc`, '\\a.exe') AND `ParentImage` IS NULL)

-- selection selection
endswith(`Image__lc`, '\\a.exe')

-- selection empty
`ParentImage` IS NULL
