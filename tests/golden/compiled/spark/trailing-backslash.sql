-- condition
endswith(`CurrentDirectory__lc`, '\\temp\\')

-- selection selection
endswith(`CurrentDirectory__lc`, '\\temp\\')
