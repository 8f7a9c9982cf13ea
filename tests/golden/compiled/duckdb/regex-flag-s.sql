-- condition
regexp_matches("ScriptBlockText", '(?s)first.second')

-- selection selection
regexp_matches("ScriptBlockText", '(?s)first.second')
