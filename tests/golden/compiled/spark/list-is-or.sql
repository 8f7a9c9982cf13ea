-- condition
(endswith(`Image__lc`, '\\rar.exe') OR endswith(`Image__lc`, '\\7z.exe'))

-- selection selection
(endswith(`Image__lc`, '\\rar.exe') OR endswith(`Image__lc`, '\\7z.exe'))
