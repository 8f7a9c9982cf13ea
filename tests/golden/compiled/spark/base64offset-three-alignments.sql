-- condition
(contains(`CommandLine__lc`, 'sw52b2tl') OR contains(`CommandLine__lc`, 'ludm9rz') OR contains(`CommandLine__lc`, 'jbnzva2'))

-- selection selection
(contains(`CommandLine__lc`, 'sw52b2tl') OR contains(`CommandLine__lc`, 'ludm9rz') OR contains(`CommandLine__lc`, 'jbnzva2'))
