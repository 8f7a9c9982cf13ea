-- condition
("LogonType__lc" = '3' OR try_cast("LogonType__lc" AS DOUBLE) = 3.0)

-- selection selection
("LogonType__lc" = '3' OR try_cast("LogonType__lc" AS DOUBLE) = 3.0)
