"""The hub's private PKI: a certificate authority run by the hub operator, and its CRL.

Partners never send a private key anywhere: they send a signing request and get
back a certificate. The CA's own key stays encrypted on the operator's disk.
"""
