-- condition
(contains(`CommandLine__lc`, ' -enc ') OR contains(`CommandLine__lc`, ' /enc ') OR contains(`CommandLine__lc`, ' –enc ') OR contains(`CommandLine__lc`, ' —enc ') OR contains(`CommandLine__lc`, ' ―enc '))

-- selection selection
(contains(`CommandLine__lc`, ' -enc ') OR contains(`CommandLine__lc`, ' /enc ') OR contains(`CommandLine__lc`, ' –enc ') OR contains(`CommandLine__lc`, ' —enc ') OR contains(`CommandLine__lc`, ' ―enc '))
