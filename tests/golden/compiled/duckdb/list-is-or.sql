-- condition
(ends_with("Image__lc", '\rar.exe') OR ends_with("Image__lc", '\7z.exe'))

-- selection selection
(ends_with("Image__lc", '\rar.exe') OR ends_with("Image__lc", '\7z.exe'))
