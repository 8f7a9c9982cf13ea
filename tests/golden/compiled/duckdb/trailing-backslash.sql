-- condition
ends_with("CurrentDirectory__lc", '\temp\')

-- selection selection
ends_with("CurrentDirectory__lc", '\temp\')
