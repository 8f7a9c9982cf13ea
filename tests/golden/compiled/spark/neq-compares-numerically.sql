-- condition
(endswith(`Image__lc`, '\\a.exe') AND (NOT coalesce((`TerminalSessionId__lc` = '0' OR try_cast(`TerminalSessionId__lc` AS DOUBLE) = 0.0), false)))

-- selection selection
(endswith(`Image__lc`, '\\a.exe') AND (NOT coalesce((`TerminalSessionId__lc` = '0' OR try_cast(`TerminalSessionId__lc` AS DOUBLE) = 0.0), false)))
