-- condition
(ends_with("Image__lc", '\cmd.exe') AND (NOT coalesce(ends_with("ParentImage__lc", '\explorer.exe'), false)))

-- selection selection
ends_with("Image__lc", '\cmd.exe')

-- selection filter
ends_with("ParentImage__lc", '\explorer.exe')
