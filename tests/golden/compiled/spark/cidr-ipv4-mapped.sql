-- condition
(`DestinationIp__ip` BETWEEN '00000000000000000000ffff7f000000' AND '00000000000000000000ffff7fffffff')

-- selection selection
(`DestinationIp__ip` BETWEEN '00000000000000000000ffff7f000000' AND '00000000000000000000ffff7fffffff')
