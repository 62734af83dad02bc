"""crms.biometrics"""
