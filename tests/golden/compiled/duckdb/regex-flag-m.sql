-- condition
regexp_matches("ScriptBlockText", '(?m)^second$')

-- selection selection
regexp_matches("ScriptBlockText", '(?m)^second$')
