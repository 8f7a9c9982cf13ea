-- condition
"ParentImage__lc" = "Image__lc"

-- selection selection
"ParentImage__lc" = "Image__lc"
