-- condition
(contains("CommandLine__lc", 'aaa') AND contains("CommandLine__lc", 'bbb'))

-- selection selection_a
contains("CommandLine__lc", 'aaa')

-- selection selection_b
contains("CommandLine__lc", 'bbb')
