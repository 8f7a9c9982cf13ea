-- condition
(try_cast(`ProcessId` AS DOUBLE) > 100.0 AND try_cast(`TerminalSessionId` AS DOUBLE) <= 1.0)

-- selection selection
(try_cast(`ProcessId` AS DOUBLE) > 100.0 AND try_cast(`TerminalSessionId` AS DOUBLE) <= 1.0)
