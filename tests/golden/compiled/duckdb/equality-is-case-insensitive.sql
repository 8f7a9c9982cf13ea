-- condition
"Image__lc" = 'c:\windows\system32\cmd.exe'

-- selection selection
"Image__lc" = 'c:\windows\system32\cmd.exe'
