-- condition
("DestinationIp__ip" BETWEEN 'fe800000000000000000000000000000' AND 'febfffffffffffffffffffffffffffff')

-- selection selection
("DestinationIp__ip" BETWEEN 'fe800000000000000000000000000000' AND 'febfffffffffffffffffffffffffffff')
