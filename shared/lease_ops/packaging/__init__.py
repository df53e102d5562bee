"""`make package`: CloudFormation templates of the apps and the platform."""
