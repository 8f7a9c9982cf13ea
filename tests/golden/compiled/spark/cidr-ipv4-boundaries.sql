-- condition
(`DestinationIp__ip` BETWEEN '00000000000000000000ffff0a000000' AND '00000000000000000000ffff0affffff')

-- selection selection
(`DestinationIp__ip` BETWEEN '00000000000000000000ffff0a000000' AND '00000000000000000000ffff0affffff')
