-- condition
("Image__lc" = 'y' AND (NOT coalesce("ParentImage" IS NOT NULL, false)))

-- selection selection
"Image__lc" = 'y'

-- selection f
(NOT coalesce("ParentImage" IS NOT NULL, false))
