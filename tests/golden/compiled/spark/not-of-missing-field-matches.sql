-- condition
(endswith(`Image__lc`, '\\cmd.exe') AND (NOT coalesce(endswith(`ParentImage__lc`, '\\explorer.exe'), false)))

-- selection selection
endswith(`Image__lc`, '\\cmd.exe')

-- selection filter
endswith(`ParentImage__lc`, '\\explorer.exe')
