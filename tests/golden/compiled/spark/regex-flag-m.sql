-- condition
`ScriptBlockText` RLIKE '(?m)^second$'

-- selection selection
`ScriptBlockText` RLIKE '(?m)^second$'
