-- condition
`ScriptBlockText` RLIKE '(?s)first.second'

-- selection selection
`ScriptBlockText` RLIKE '(?s)first.second'
