-- condition
(ends_with("Image__lc", '\a.exe') AND "ParentImage" IS NULL)

-- selection selection
ends_with("Image__lc", '\a.exe')

-- selection empty
"ParentImage" IS NULL
